//! Splitting a byte stream into command lines, with a length limit that drops over-long
//! lines (reporting them once) without buffering them.

/// The longest accepted line in octets, CRLF included (RFC 2449 allows 255 for commands;
/// SASL responses need more).
pub const MAX_LINE: usize = 8192;

/// One line out of a [`LineReader`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A complete line, without its CRLF / LF.
    Complete(Vec<u8>),
    /// A line longer than the limit; its bytes were dropped.
    TooLong,
}

/// Accumulates received bytes and yields lines.
#[derive(Debug)]
pub struct LineReader {
    buf: Vec<u8>,
    /// How much of the start of `buf` is known to hold no line end: a line arriving byte by byte
    /// is searched once, not once per byte.
    scanned: usize,
    max: usize,
    discarding: bool,
}

impl LineReader {
    /// A reader accepting lines up to `max` octets including the line end.
    pub fn new(max: usize) -> Self {
        LineReader {
            buf: Vec::new(),
            scanned: 0,
            max,
            discarding: false,
        }
    }

    /// Adds received bytes.
    pub fn feed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next line, if a whole one has arrived.
    pub fn next_line(&mut self) -> Option<Line> {
        let from = self.scanned.min(self.buf.len());
        match self
            .buf
            .get(from..)
            .unwrap_or_default()
            .iter()
            .position(|b| *b == b'\n')
        {
            Some(pos) => {
                let pos = from + pos;
                self.scanned = 0;
                let mut line: Vec<u8> = self.buf.drain(..=pos).collect();
                if self.discarding || line.len() > self.max {
                    self.discarding = false;
                    return Some(Line::TooLong);
                }
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                Some(Line::Complete(line))
            }
            None => {
                self.scanned = self.buf.len();
                if self.buf.len() > self.max {
                    self.discarding = true;
                    self.buf.clear();
                    self.scanned = 0;
                }
                None
            }
        }
    }

    /// Whether nothing of a next line has arrived.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty() && !self.discarding
    }

    /// Drops everything buffered (after STLS, RFC 2595 §4: pipelined plaintext is discarded).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.scanned = 0;
        self.discarding = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(max: usize, chunks: &[&[u8]]) -> Vec<Line> {
        let mut r = LineReader::new(max);
        let mut out = Vec::new();
        for c in chunks {
            r.feed(c);
            while let Some(l) = r.next_line() {
                out.push(l);
            }
        }
        out
    }

    fn ok(s: &str) -> Line {
        Line::Complete(s.as_bytes().to_vec())
    }

    #[test]
    fn splitting() {
        type Case<'a> = (usize, Vec<&'a [u8]>, Vec<Line>);
        let cases: Vec<Case> = vec![
            (100, vec![b"STAT\r\n"], vec![ok("STAT")]),
            (
                100,
                vec![b"ST", b"AT\r", b"\nNOOP\n"],
                vec![ok("STAT"), ok("NOOP")],
            ),
            (100, vec![b"NOOP"], vec![]),
            (100, vec![b"\r\n"], vec![ok("")]),
            (6, vec![b"NOOP\r\n"], vec![ok("NOOP")]),
            (5, vec![b"NOOP\r\n"], vec![Line::TooLong]),
            (
                8,
                vec![b"0123456789", b"0123456789", b"\r\nQUIT\r\n"],
                vec![Line::TooLong, ok("QUIT")],
            ),
            (
                8,
                vec![b"0123456789\r\nQUIT\r\n"],
                vec![Line::TooLong, ok("QUIT")],
            ),
        ];
        for (max, chunks, want) in cases {
            assert_eq!(lines(max, &chunks), want, "{chunks:?}");
        }
    }

    /// Found by the `pop3_session` fuzz target: each byte of a line arriving one at a time made
    /// the reader search the whole line again (quadratic CPU for a trickling client).
    #[test]
    fn a_trickling_line_is_searched_once() {
        let mut r = LineReader::new(MAX_LINE);
        let started = std::time::Instant::now();
        let mut got = Vec::new();
        for _ in 0..40 {
            for b in [&[b'x'; MAX_LINE - 2][..], b"\r\n"].concat() {
                r.feed(&[b]);
                got.extend(r.next_line());
            }
        }
        assert_eq!(got, vec![ok(&"x".repeat(MAX_LINE - 2)); 40]);
        let took = started.elapsed();
        assert!(took < std::time::Duration::from_secs(3), "took {took:?}");
    }

    #[test]
    fn memory_is_bounded_while_discarding() {
        let mut r = LineReader::new(16);
        for _ in 0..1000 {
            r.feed(&[b'x'; 100]);
            assert!(r.next_line().is_none());
            assert!(r.buf.len() <= 116);
        }
        r.feed(b"\r\n");
        assert_eq!(r.next_line(), Some(Line::TooLong));
    }
}
