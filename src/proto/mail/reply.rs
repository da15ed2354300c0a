//! SMTP replies (RFC 5321 §4.2): a code, an RFC 3463 enhanced status code, and text lines. The
//! SMTP server writes them; the SMTP client reads them from the next hop; the queue keeps the
//! one that decided a recipient, for its delivery report.

use std::fmt::{self, Write as _};

use serde::{Deserialize, Serialize};

use super::status::{Class, Status};

/// One reply, possibly multi-line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub code: u16,
    /// Enhanced status code ("2.1.0"); `None` for the greeting and HELO/EHLO replies, and for
    /// a remote server's reply that had none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enhanced: Option<Status>,
    pub lines: Vec<String>,
}

impl Reply {
    /// A reply of ours with its enhanced code (written as a literal: `"5.1.1"`; one that is not
    /// a status code is left out).
    pub fn new(code: u16, enhanced: &str, text: impl Into<String>) -> Reply {
        Reply {
            code,
            enhanced: Status::parse(enhanced),
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

    /// A reply as a remote server sent it: `code`, then `text` (its lines joined, without the
    /// codes). A leading enhanced code is taken when its class agrees with the reply code
    /// (RFC 3463 §2); otherwise it stays in the text.
    pub fn received(code: u16, text: &str) -> Reply {
        let text: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let text = text.trim();
        match Status::split_leading(text) {
            Some((status, rest)) if Class::of_code(code) == Some(status.class()) => Reply {
                code,
                enhanced: Some(status),
                lines: vec![rest.to_string()],
            },
            _ => Reply::plain(code, vec![text.to_string()]),
        }
    }

    /// Whether this is a 4xx/5xx reply.
    pub fn is_error(&self) -> bool {
        self.code >= 400
    }

    /// The class of the reply code (transient for a code outside 2xx–5xx).
    pub fn class(&self) -> Class {
        Class::of_code(self.code).unwrap_or(Class::Transient)
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

/// One line: `550 5.1.1 text` (the lines of a multi-line reply joined by spaces).
impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(e) = self.enhanced {
            write!(f, " {e}")?;
        }
        for line in &self.lines {
            f.write_char(' ')?;
            for c in line.chars() {
                f.write_char(if c.is_control() { ' ' } else { c })?;
            }
        }
        Ok(())
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
        assert_eq!(
            Reply::new(550, "5.1.1", "no\r\nsuch").to_string(),
            "550 5.1.1 no  such"
        );
    }

    #[test]
    fn replies_from_a_remote_server() {
        let r = Reply::received(550, "5.1.1 <b@x.test>: Recipient address rejected");
        assert_eq!(r.enhanced.map(|s| s.to_string()).as_deref(), Some("5.1.1"));
        assert_eq!(r.lines, ["<b@x.test>: Recipient address rejected"]);
        assert_eq!(
            r.to_string(),
            "550 5.1.1 <b@x.test>: Recipient address rejected"
        );
        // No enhanced code, or one whose class disagrees with the reply code: text only.
        for (code, text) in [(550, "no such user"), (450, "5.1.1 odd"), (554, "")] {
            let r = Reply::received(code, text);
            assert_eq!(r.enhanced, None, "{code} {text}");
            assert_eq!(
                r.to_string().trim_end(),
                format!("{code} {text}").trim_end()
            );
        }
        assert_eq!(Reply::received(451, "busy\r\nnow").lines, ["busy  now"]);
        assert_eq!(Reply::received(451, "x").class(), Class::Transient);
        assert_eq!(Reply::received(999, "x").class(), Class::Transient);
    }
}
