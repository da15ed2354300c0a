//! The POP3 client's grammar (RFC 1939, 2449): status lines, capabilities, UIDL and LIST
//! listings, and the dot-stuffed multi-line data of RETR. Pure: lines in, values out.

use std::collections::HashMap;

/// Longest status or listing line accepted from a server, in octets.
pub const MAX_STATUS_LINE: usize = crate::proto::pop3::MAX_LINE;

/// Longest line inside a message accepted from a server (RFC 5322 allows 998; real mail is
/// sloppier). A longer line makes the message malformed: it is skipped and left on the server.
pub const MAX_DATA_LINE: usize = 1024 * 1024;

/// A server's answer to a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// `+OK text`
    Ok(String),
    /// `-ERR text`
    Err(String),
    /// `+ text` (a SASL challenge, RFC 5034)
    Continue(String),
}

/// A server line that is not POP3.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unexpected reply from the POP3 server: {0:?}")]
pub struct BadReply(pub String);

/// Parse a status line (without its CRLF).
pub fn parse_status(line: &[u8]) -> Result<Status, BadReply> {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end();
    let rest = |prefix: &str| {
        text.get(prefix.len()..)
            .unwrap_or("")
            .trim_start()
            .to_string()
    };
    let upper = text.get(..4).unwrap_or(text).to_ascii_uppercase();
    if upper.starts_with("+OK") {
        Ok(Status::Ok(rest("+OK")))
    } else if upper.starts_with("-ERR") {
        Ok(Status::Err(rest("-ERR")))
    } else if text == "+" || text.starts_with("+ ") {
        Ok(Status::Continue(rest("+")))
    } else {
        Err(BadReply(text.chars().take(200).collect()))
    }
}

/// The APOP timestamp `<…@…>` of a greeting, if it has one.
pub fn greeting_timestamp(greeting: &str) -> Option<&str> {
    let start = greeting.find('<')?;
    let len = greeting.get(start..)?.find('>')?;
    let ts = greeting.get(start..=start + len)?;
    (ts.contains('@') && ts.len() > 3).then_some(ts)
}

/// What the server said it can do (CAPA).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Capability name (upper case) → its arguments (upper case).
    pub caps: HashMap<String, Vec<String>>,
}

impl Capabilities {
    /// Parse the lines of a CAPA response.
    pub fn parse(lines: &[Vec<u8>]) -> Capabilities {
        let mut caps = HashMap::new();
        for line in lines {
            let text = String::from_utf8_lossy(line).to_ascii_uppercase();
            let mut words = text.split_whitespace();
            if let Some(name) = words.next() {
                caps.insert(name.to_string(), words.map(str::to_string).collect());
            }
        }
        Capabilities { caps }
    }

    pub fn has(&self, name: &str) -> bool {
        self.caps.contains_key(name)
    }

    /// Whether SASL `mechanism` is offered.
    pub fn sasl(&self, mechanism: &str) -> bool {
        self.caps
            .get("SASL")
            .is_some_and(|m| m.iter().any(|x| x.eq_ignore_ascii_case(mechanism)))
    }
}

/// One message in the maildrop: number, unique id and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub number: u32,
    pub uidl: String,
    pub size: u64,
}

/// `n uidl` lines of UIDL and `n size` lines of LIST, joined by message number. A UIDL that is
/// not 1–70 printable characters, or a line that does not parse, is an error: without sound
/// UIDLs nothing can be remembered safely.
pub fn join_listings(uidl: &[Vec<u8>], list: &[Vec<u8>]) -> Result<Vec<Listed>, BadReply> {
    let pair = |line: &[u8]| -> Result<(u32, String), BadReply> {
        let text = String::from_utf8_lossy(line);
        let mut words = text.split_whitespace();
        let bad = || BadReply(text.chars().take(200).collect());
        let n = words
            .next()
            .and_then(|n| n.parse::<u32>().ok())
            .ok_or_else(bad)?;
        let v = words.next().ok_or_else(bad)?.to_string();
        Ok((n, v))
    };
    let mut sizes = HashMap::new();
    for line in list {
        let (n, size) = pair(line)?;
        let size = size
            .parse::<u64>()
            .map_err(|_| BadReply(String::from_utf8_lossy(line).into_owned()))?;
        sizes.insert(n, size);
    }
    let mut out = Vec::with_capacity(uidl.len());
    for line in uidl {
        let (number, uidl) = pair(line)?;
        let sound =
            (1..=70).contains(&uidl.len()) && uidl.bytes().all(|b| (0x21..=0x7e).contains(&b));
        if !sound {
            return Err(BadReply(format!("bad UIDL {uidl:?}")));
        }
        let size = sizes.get(&number).copied().unwrap_or(0);
        out.push(Listed { number, uidl, size });
    }
    out.sort_by_key(|l| l.number);
    Ok(out)
}

/// Reassembles the data of one multi-line response (RFC 1939 §3): removes dot-stuffing, ends
/// lines with CRLF, stops at the lone `.`; keeps at most `limit` octets and notes when more came.
#[derive(Debug)]
pub struct Data {
    pub bytes: Vec<u8>,
    limit: u64,
    /// More than `limit` octets arrived; `bytes` is incomplete.
    pub too_big: bool,
    /// A line longer than [`MAX_DATA_LINE`] arrived; `bytes` is incomplete.
    pub bad_line: bool,
    pub done: bool,
}

impl Data {
    pub fn new(limit: u64) -> Data {
        Data {
            bytes: Vec::new(),
            limit,
            too_big: false,
            bad_line: false,
            done: false,
        }
    }

    /// Take one line (without its line end). Returns true once the terminating `.` was seen.
    pub fn line(&mut self, line: &[u8]) -> bool {
        if self.done {
            return true;
        }
        let content = match line.strip_prefix(b".") {
            Some([]) => {
                self.done = true;
                return true;
            }
            Some(rest) => rest,
            None => line,
        };
        // A bare CR inside a line (the line itself ended at LF, with or without CR) is a line
        // end too: what is queued has CRLF line ends only, whatever the POP3 server sent.
        let content = crate::proto::smtp::lineends::canonical(content);
        if self.too_big || (self.bytes.len() + content.len() + 2) as u64 > self.limit {
            self.too_big = true;
            self.bytes = Vec::new();
            return false;
        }
        self.bytes.extend_from_slice(&content);
        self.bytes.extend_from_slice(b"\r\n");
        false
    }

    /// A line that was too long to keep.
    pub fn overlong_line(&mut self) {
        self.bad_line = true;
    }

    /// Whether the data is whole and usable.
    pub fn complete(&self) -> bool {
        self.done && !self.too_big && !self.bad_line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        for (line, want) in [
            (
                &b"+OK ready <1.2@x>"[..],
                Ok(Status::Ok("ready <1.2@x>".into())),
            ),
            (b"+ok", Ok(Status::Ok(String::new()))),
            (b"-ERR [AUTH] no", Ok(Status::Err("[AUTH] no".into()))),
            (
                b"+ VXNlcm5hbWU6",
                Ok(Status::Continue("VXNlcm5hbWU6".into())),
            ),
            (b"+", Ok(Status::Continue(String::new()))),
            (b"* OK imap", Err(BadReply("* OK imap".into()))),
        ] {
            assert_eq!(parse_status(line), want, "{line:?}");
        }
        assert_eq!(
            greeting_timestamp("Dovecot ready. <1896.697170952@dbc.mtview.ca.us>"),
            Some("<1896.697170952@dbc.mtview.ca.us>")
        );
        assert_eq!(greeting_timestamp("ready <notimestamp>"), None);
        assert_eq!(greeting_timestamp("ready"), None);
    }

    #[test]
    fn capabilities() {
        let c = Capabilities::parse(&[
            b"TOP".to_vec(),
            b"SASL PLAIN cram-md5".to_vec(),
            b"STLS".to_vec(),
        ]);
        assert!(c.has("STLS") && c.has("TOP") && !c.has("UIDL"));
        assert!(c.sasl("CRAM-MD5") && c.sasl("plain") && !c.sasl("LOGIN"));
    }

    #[test]
    fn listings() {
        let uidl = vec![b"2 bb".to_vec(), b"1 aa".to_vec()];
        let list = vec![b"1 100".to_vec(), b"2 200".to_vec()];
        let got = join_listings(&uidl, &list).expect("ok");
        assert_eq!(
            got,
            [
                Listed {
                    number: 1,
                    uidl: "aa".into(),
                    size: 100
                },
                Listed {
                    number: 2,
                    uidl: "bb".into(),
                    size: 200
                }
            ]
        );
        assert!(join_listings(&[b"1".to_vec()], &[]).is_err());
        assert!(join_listings(&[b"x aa".to_vec()], &[]).is_err());
        assert!(join_listings(&[b"1 a\x01".to_vec()], &[]).is_err());
        assert!(join_listings(&[b"1 aa".to_vec()], &[b"1 big".to_vec()]).is_err());
    }

    #[test]
    fn multi_line_data() {
        let mut d = Data::new(1000);
        for l in [&b"Subject: x"[..], b"", b"..leading dot", b".", b"after"] {
            if d.line(l) {
                break;
            }
        }
        assert!(d.complete());
        assert_eq!(d.bytes, b"Subject: x\r\n\r\n.leading dot\r\n");
        let mut d = Data::new(1000);
        for l in [&b"a\r.\rMAIL FROM:<x@y.test>"[..], b"."] {
            d.line(l);
        }
        assert_eq!(d.bytes, b"a\r\n.\r\nMAIL FROM:<x@y.test>\r\n");
        let mut d = Data::new(20);
        assert!(!d.line(b"0123456789"));
        assert!(!d.line(b"0123456789"));
        assert!(d.line(b"."));
        assert!(d.too_big && !d.complete() && d.bytes.is_empty());
    }
}
