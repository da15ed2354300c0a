//! SMTP replies: a code, an RFC 3463 enhanced status code, and text lines.

use std::fmt::Write as _;

/// One reply, possibly multi-line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// Enhanced status code ("2.1.0"); `None` only for the greeting and HELO/EHLO replies.
    pub enhanced: Option<&'static str>,
    pub lines: Vec<String>,
}

impl Reply {
    pub fn new(code: u16, enhanced: &'static str, text: impl Into<String>) -> Reply {
        Reply {
            code,
            enhanced: Some(enhanced),
            lines: vec![text.into()],
        }
    }

    /// A reply without an enhanced status code (greeting, EHLO).
    pub fn plain(code: u16, lines: Vec<String>) -> Reply {
        Reply {
            code,
            enhanced: None,
            lines,
        }
    }

    /// Whether this is a 4xx/5xx reply.
    pub fn is_error(&self) -> bool {
        self.code >= 400
    }

    /// Wire form, with CRLF after each line.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let mut s = String::new();
        let n = self.lines.len().max(1);
        for i in 0..n {
            let sep = if i + 1 < n { '-' } else { ' ' };
            let text = self.lines.get(i).map(String::as_str).unwrap_or("");
            let _ = write!(s, "{}{}", self.code, sep);
            if let Some(e) = self.enhanced {
                let _ = write!(s, "{e} ");
            }
            // Reply text never carries CR or LF from anywhere.
            s.extend(
                text.chars()
                    .map(|c| if c == '\r' || c == '\n' { ' ' } else { c }),
            );
            s.push_str("\r\n");
        }
        out.extend_from_slice(s.as_bytes());
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.write_to(&mut v);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_forms() {
        assert_eq!(
            Reply::new(250, "2.1.0", "Ok").to_bytes(),
            b"250 2.1.0 Ok\r\n"
        );
        assert_eq!(
            Reply::plain(
                250,
                vec!["host".into(), "SIZE 10".into(), "8BITMIME".into()]
            )
            .to_bytes(),
            b"250-host\r\n250-SIZE 10\r\n250 8BITMIME\r\n"
        );
        assert_eq!(
            Reply::new(550, "5.1.1", "no\r\nsuch").to_bytes(),
            b"550 5.1.1 no  such\r\n"
        );
    }
}
