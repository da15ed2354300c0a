//! The ManageSieve command reader (RFC 5804 §4): bytes in, whole commands out. A command is a
//! line of atoms, numbers and strings; a string is quoted (`"…"`, with `\"` and `\\`) or a
//! literal (`{n+}` CRLF and n octets; `{n}` is taken the same way, without a continuation).
//!
//! Every part is bounded: the text of a command outside its literals by `max_line`, each
//! literal by `max_literal`, the number of arguments by [`MAX_ARGS`]. A literal larger than
//! allowed is read and thrown away as it arrives (never held) and reported as
//! [`Item::TooLarge`], so the client, which does not wait before sending it, stays in step.

/// The most arguments a command has (RENAMESCRIPT: two; a few more are tolerated).
pub const MAX_ARGS: usize = 8;

/// One argument of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// A bare word (the command name, `ACTIVE`, …).
    Atom(String),
    /// A number (HAVESPACE's size).
    Number(u64),
    /// A quoted string or a literal.
    Str(Vec<u8>),
}

impl Arg {
    /// The argument as a string (a quoted string or literal that is UTF-8).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Arg::Str(s) => std::str::from_utf8(s).ok(),
            _ => None,
        }
    }
}

/// What the reader yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A whole command: its arguments, the first being the command name.
    Command(Vec<Arg>),
    /// A line that does not parse (read to its end).
    Bad(String),
    /// A literal larger than allowed (read and discarded, with the rest of its command).
    TooLarge(u64),
}

/// Assembles commands from the client's bytes.
#[derive(Debug)]
pub struct Reader {
    buf: Vec<u8>,
    max_line: usize,
    max_literal: u64,
    /// Octets of an oversized literal still to drop.
    skipping: u64,
    /// After a bad or oversized part: drop through the end of the line, then report this.
    discarding: Option<Item>,
}

enum Parse {
    /// An item, the octets it used, and how many of them were outside literals.
    Done(Item, usize, usize),
    Incomplete {
        text: usize,
    },
    /// A literal of this size starts at this position (after its CRLF): too large.
    Oversized {
        size: u64,
        at: usize,
    },
    /// Bad from here: drop through the line's end.
    Bad(String),
}

impl Reader {
    pub fn new(max_line: usize, max_literal: u64) -> Reader {
        Reader {
            buf: Vec::new(),
            max_line,
            max_literal,
            skipping: 0,
            discarding: None,
        }
    }

    /// Bytes from the client.
    pub fn feed(&mut self, bytes: &[u8]) {
        let mut bytes = bytes;
        if self.skipping > 0 {
            let n = usize::try_from(self.skipping)
                .unwrap_or(usize::MAX)
                .min(bytes.len());
            self.skipping -= n as u64;
            bytes = bytes.get(n..).unwrap_or_default();
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Whether nothing of a next command has arrived.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty() && self.skipping == 0 && self.discarding.is_none()
    }

    /// Forgets everything received (after STARTTLS: nothing sent in plaintext counts).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.skipping = 0;
        self.discarding = None;
    }

    /// The next whole item, if one has arrived.
    pub fn next_item(&mut self) -> Option<Item> {
        if self.skipping > 0 {
            return None;
        }
        if self.discarding.is_some() {
            return self.discard();
        }
        match parse(&self.buf, self.max_literal) {
            Parse::Done(_, used, text) if text > self.max_line => {
                self.buf.drain(..used);
                Some(Item::Bad("line too long".into()))
            }
            Parse::Done(item, used, _) => {
                self.buf.drain(..used);
                Some(item)
            }
            Parse::Incomplete { text } if text > self.max_line => {
                // The command's end may not have come yet: drop it as it arrives.
                self.discarding = Some(Item::Bad("line too long".into()));
                self.discard()
            }
            Parse::Incomplete { .. } => None,
            Parse::Oversized { size, at } => {
                let have = self.buf.len().saturating_sub(at) as u64;
                if have >= size {
                    // The whole literal is here already: drop just it.
                    let end = at.saturating_add(usize::try_from(size).unwrap_or(usize::MAX));
                    self.buf.drain(..end.min(self.buf.len()));
                } else {
                    self.buf.clear();
                    self.skipping = size - have;
                }
                self.discarding = Some(Item::TooLarge(size));
                self.next_item()
            }
            Parse::Bad(why) => {
                self.discarding = Some(Item::Bad(why));
                self.next_item()
            }
        }
    }
}

impl Reader {
    /// Drops the rest of a bad or oversized command, then reports it. Its lines are read to
    /// their ends, and a line that ends in a literal header (`{N}`, `{N+}`) has its N octets
    /// skipped as they come, so that the client, which sends them without waiting, stays in
    /// step whatever its literals hold and however the network splits its bytes. Only the last
    /// [`DISCARD_TAIL`] octets of an unfinished line are kept (enough for a literal header).
    fn discard(&mut self) -> Option<Item> {
        loop {
            if self.skipping > 0 {
                return None;
            }
            let Some(end) = self.buf.iter().position(|&b| b == b'\n') else {
                let cut = self.buf.len().saturating_sub(DISCARD_TAIL);
                self.buf.drain(..cut);
                return None;
            };
            let line = self.buf.get(..end).unwrap_or_default();
            let literal = literal_header_at_end(line.strip_suffix(b"\r").unwrap_or(line));
            self.buf.drain(..=end);
            let Some(size) = literal else {
                return self.discarding.take();
            };
            let have = self.buf.len() as u64;
            if have >= size {
                self.buf.drain(
                    ..usize::try_from(size)
                        .unwrap_or(usize::MAX)
                        .min(self.buf.len()),
                );
            } else {
                self.buf.clear();
                self.skipping = size - have;
            }
        }
    }
}

/// Octets of an unfinished line kept while it is discarded: the longest literal header
/// (`{` 19 digits `+}` CR) fits.
const DISCARD_TAIL: usize = 32;

/// The size of the literal whose header (`{N}` or `{N+}`) ends `line`.
fn literal_header_at_end(line: &[u8]) -> Option<u64> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let digits = inner.get(open + 1..)?;
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn parse(buf: &[u8], max_literal: u64) -> Parse {
    let mut args = Vec::new();
    let mut i = 0;
    let mut text = 0; // octets outside literals
    loop {
        while buf.get(i) == Some(&b' ') {
            i += 1;
            text += 1;
        }
        let Some(&b) = buf.get(i) else {
            return Parse::Incomplete { text };
        };
        match b {
            b'\r' | b'\n' => {
                let end = if b == b'\r' {
                    match buf.get(i + 1) {
                        None => return Parse::Incomplete { text },
                        Some(b'\n') => i + 2,
                        Some(_) => return Parse::Bad("CR without LF".into()),
                    }
                } else {
                    i + 1
                };
                let text = text + (end - i);
                if args.is_empty() {
                    return Parse::Done(Item::Bad("empty command".into()), end, text);
                }
                return Parse::Done(Item::Command(args), end, text);
            }
            _ if args.len() >= MAX_ARGS => return Parse::Bad("too many arguments".into()),
            b'"' => {
                let mut s = Vec::new();
                let mut j = i + 1;
                loop {
                    match buf.get(j) {
                        None => {
                            return Parse::Incomplete {
                                text: text + (j - i),
                            }
                        }
                        Some(b'"') => break,
                        Some(b'\\') => match buf.get(j + 1) {
                            None => {
                                return Parse::Incomplete {
                                    text: text + (j - i),
                                }
                            }
                            Some(&c @ (b'"' | b'\\')) => {
                                s.push(c);
                                j += 2;
                            }
                            Some(_) => return Parse::Bad("bad escape in quoted string".into()),
                        },
                        Some(b'\r' | b'\n' | 0) => {
                            return Parse::Bad("line end in quoted string".into())
                        }
                        Some(&c) => {
                            s.push(c);
                            j += 1;
                        }
                    }
                }
                text += j + 1 - i;
                i = j + 1;
                args.push(Arg::Str(s));
            }
            b'{' => {
                let Some(close) = buf.get(i..).and_then(|r| r.iter().position(|&c| c == b'}'))
                else {
                    if buf.len() - i > 24 {
                        return Parse::Bad("bad literal".into());
                    }
                    return Parse::Incomplete { text };
                };
                let inner = buf.get(i + 1..i + close).unwrap_or_default();
                let digits = inner.strip_suffix(b"+").unwrap_or(inner);
                let size = std::str::from_utf8(digits)
                    .ok()
                    .filter(|d| {
                        !d.is_empty() && d.len() <= 19 && d.bytes().all(|c| c.is_ascii_digit())
                    })
                    .and_then(|d| d.parse::<u64>().ok());
                let Some(size) = size else {
                    return Parse::Bad("bad literal".into());
                };
                let mut j = i + close + 1;
                match (buf.get(j), buf.get(j + 1)) {
                    (Some(b'\r'), Some(b'\n')) => j += 2,
                    (Some(b'\n'), _) => j += 1,
                    (None, _) | (Some(b'\r'), None) => {
                        return Parse::Incomplete { text: text + j - i }
                    }
                    _ => return Parse::Bad("literal not followed by a line end".into()),
                }
                text += j - i;
                if size > max_literal {
                    return Parse::Oversized { size, at: j };
                }
                let Ok(n) = usize::try_from(size) else {
                    return Parse::Oversized { size, at: j };
                };
                let Some(body) = buf.get(j..j + n) else {
                    return Parse::Incomplete { text };
                };
                args.push(Arg::Str(body.to_vec()));
                i = j + n;
            }
            _ => {
                let start = i;
                while buf
                    .get(i)
                    .is_some_and(|&c| c != b' ' && c != b'\r' && c != b'\n')
                {
                    i += 1;
                }
                text += i - start;
                if buf.get(i).is_none() {
                    return Parse::Incomplete { text };
                }
                let word = buf.get(start..i).unwrap_or_default();
                if !word
                    .iter()
                    .all(|&c| c.is_ascii_graphic() && !b"\"{}()%*\\".contains(&c))
                {
                    return Parse::Bad("bad atom".into());
                }
                let word = String::from_utf8_lossy(word).into_owned();
                args.push(match word.parse::<u64>() {
                    Ok(n) if word.bytes().all(|c| c.is_ascii_digit()) => Arg::Number(n),
                    _ => Arg::Atom(word),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic
    use super::*;

    fn items(max_literal: u64, chunks: &[&[u8]]) -> Vec<Item> {
        let mut r = Reader::new(64, max_literal);
        let mut out = Vec::new();
        for c in chunks {
            r.feed(c);
            while let Some(i) = r.next_item() {
                out.push(i);
            }
        }
        out
    }

    fn s(x: &str) -> Arg {
        Arg::Str(x.as_bytes().to_vec())
    }
    fn a(x: &str) -> Arg {
        Arg::Atom(x.into())
    }

    #[test]
    fn commands_with_quoted_strings_literals_and_numbers() {
        let got = items(
            100,
            &[b"PUTSCRIPT \"my \\\"s\\\\\" {5+}\r\nkeep;\r\nHAVESPACE \"x\" 123\r\nnoop\n"],
        );
        assert_eq!(
            got,
            vec![
                Item::Command(vec![a("PUTSCRIPT"), s("my \"s\\"), s("keep;")]),
                Item::Command(vec![a("HAVESPACE"), s("x"), Arg::Number(123)]),
                Item::Command(vec![a("noop")]),
            ]
        );
    }

    #[test]
    fn byte_by_byte_is_the_same() {
        let input = b"PUTSCRIPT {3}\r\nabc {4+}\r\nkeep\r\nLOGOUT\r\n";
        let chunks: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(items(100, &chunks), items(100, &[input]));
        assert_eq!(items(100, &chunks).len(), 2);
    }

    #[test]
    fn oversized_literal_is_skipped_not_held() {
        let mut r = Reader::new(64, 10);
        r.feed(b"PUTSCRIPT \"x\" {100000+}\r\n");
        assert_eq!(r.next_item(), None);
        for _ in 0..100 {
            r.feed(&[b'x'; 1000]);
            assert!(r.buf.len() < 100);
            assert_eq!(r.next_item(), None);
        }
        r.feed(b"\r\nNOOP\r\n");
        assert_eq!(r.next_item(), Some(Item::TooLarge(100000)));
        assert_eq!(r.next_item(), Some(Item::Command(vec![a("NOOP")])));
        assert!(r.is_empty());
    }

    #[test]
    fn a_discarded_command_skips_its_literals_however_it_arrives() {
        // The literal header comes after the line is already too long: its octets are skipped,
        // not read as commands, whether the bytes come at once or one by one.
        let mut input = vec![b'A'; 100];
        input.extend_from_slice(b" {8+}\r\nLOGOUT\r\n\r\nNOOP\r\n");
        let want = vec![
            Item::Bad("line too long".into()),
            Item::Command(vec![a("NOOP")]),
        ];
        assert_eq!(items(10, &[&input]), want);
        let chunks: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(items(10, &chunks), want);
        // A bad command's literal too.
        let got = items(100, &[b"X \"a\\q\" {7+}\r\nLOGOUT\n\r\nNOOP\r\n"]);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[1], Item::Command(vec![a("NOOP")]));
        assert_eq!(literal_header_at_end(b"x {12+}"), Some(12));
        assert_eq!(literal_header_at_end(b"{0}"), Some(0));
        assert_eq!(literal_header_at_end(b"{+}"), None);
        assert_eq!(literal_header_at_end(b"{99999999999999999999}"), None);
    }

    #[test]
    fn a_line_without_end_is_not_held() {
        let mut r = Reader::new(64, 10);
        for _ in 0..1000 {
            r.feed(&[b'z'; 1000]);
            assert_eq!(r.next_item(), None);
            assert!(r.buf.len() <= 1000 + DISCARD_TAIL, "{}", r.buf.len());
        }
        r.feed(b"\r\nNOOP\r\n");
        assert_eq!(r.next_item(), Some(Item::Bad("line too long".into())));
        assert_eq!(r.next_item(), Some(Item::Command(vec![a("NOOP")])));
    }

    #[test]
    fn bad_lines_and_long_lines() {
        let got = items(
            10,
            &[
                b"X \"a\rb\"\r\n",
                b"{x}\r\n",
                b"\r\n",
                b"A {20+}\r\n",
                &[b'y'; 20],
                b"\r\nNOOP\r\n",
            ],
        );
        assert!(matches!(got[0], Item::Bad(_)), "{got:?}");
        assert!(matches!(got[1], Item::Bad(_)), "{got:?}");
        assert!(matches!(got[2], Item::Bad(_)), "{got:?}");
        assert_eq!(got[3], Item::TooLarge(20));
        assert_eq!(got[4], Item::Command(vec![a("NOOP")]));
        let got = items(10, &[b"A {20+}\r\nyyyyyyyyyyyyyyyyyyyy\r\nNOOP\r\n"]);
        assert_eq!(
            got,
            vec![Item::TooLarge(20), Item::Command(vec![a("NOOP")])]
        );
        let long = vec![b'A'; 500];
        let mut whole = long.clone();
        whole.extend_from_slice(b"\r\nNOOP\r\n");
        assert_eq!(
            items(10, &[&whole]),
            vec![
                Item::Bad("line too long".into()),
                Item::Command(vec![a("NOOP")])
            ]
        );
        let got = items(10, &[&long, &long, b"\r\nNOOP\r\n"]);
        assert_eq!(
            got,
            vec![
                Item::Bad("line too long".into()),
                Item::Command(vec![a("NOOP")])
            ]
        );
    }
}
