//! The body of a RETR or TOP reply as a reader: CRLF line ends whatever the stored file has,
//! `.` at a line start doubled, the terminating `.` line appended; reads the message in
//! chunks, so the socket loop streams it without holding it in memory.

use std::io::{self, Read};

const CHUNK: usize = 32 * 1024;

/// A multi-line POP3 response body made from a stored message.
pub struct MessageStream {
    source: Box<dyn Read + Send>,
    /// The message's size as listed (for the caller's choice of how to send it).
    size: u64,
    /// `Some(n)`: TOP — the header, the blank line and at most `n` body lines.
    body_lines: Option<u64>,
    input: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    line_start: bool,
    line_len: usize,
    prev_cr: bool,
    in_header: bool,
    finished: bool,
}

impl std::fmt::Debug for MessageStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageStream")
            .field("body_lines", &self.body_lines)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl MessageStream {
    /// Streams the whole message (RETR), or with `body_lines` the header and that many body
    /// lines (TOP).
    pub fn new(source: Box<dyn Read + Send>, body_lines: Option<u64>) -> Self {
        Self::with_size(source, body_lines, 0)
    }

    /// [`MessageStream::new`] for a message of `size` octets (see [`MessageStream::size_hint`]).
    pub fn with_size(source: Box<dyn Read + Send>, body_lines: Option<u64>, size: u64) -> Self {
        MessageStream {
            source,
            size,
            body_lines,
            input: vec![0; CHUNK],
            out: Vec::with_capacity(CHUNK + CHUNK / 2),
            out_pos: 0,
            line_start: true,
            line_len: 0,
            prev_cr: false,
            in_header: true,
            finished: false,
        }
    }

    /// The message's size as given to [`MessageStream::with_size`] (0 when unknown).
    pub fn size_hint(&self) -> u64 {
        self.size
    }

    /// Converts input bytes; returns true when the TOP limit has been reached.
    fn convert(&mut self, n: usize) -> bool {
        for i in 0..n {
            let Some(&b) = self.input.get(i) else {
                break;
            };
            if b == b'\n' {
                if !self.prev_cr {
                    self.out.push(b'\r');
                }
                self.out.push(b'\n');
                let blank = self.line_len == 0;
                self.line_start = true;
                self.line_len = 0;
                self.prev_cr = false;
                if self.in_header {
                    if blank {
                        self.in_header = false;
                        if self.body_lines == Some(0) {
                            return true;
                        }
                    }
                } else if let Some(left) = self.body_lines.as_mut() {
                    *left = left.saturating_sub(1);
                    if *left == 0 {
                        return true;
                    }
                }
                continue;
            }
            if self.line_start && b == b'.' {
                self.out.push(b'.');
            }
            self.out.push(b);
            self.line_start = false;
            if b != b'\r' {
                self.line_len += 1;
            }
            self.prev_cr = b == b'\r';
        }
        false
    }

    fn finish(&mut self) {
        if !self.line_start {
            if !self.prev_cr {
                self.out.push(b'\r');
            }
            self.out.push(b'\n');
        }
        self.out.extend_from_slice(b".\r\n");
        self.finished = true;
    }

    fn refill(&mut self) -> io::Result<()> {
        self.out.clear();
        self.out_pos = 0;
        while self.out.is_empty() && !self.finished {
            let n = match self.source.read(&mut self.input) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 || self.convert(n) {
                self.finish();
            }
        }
        Ok(())
    }
}

impl Read for MessageStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.out_pos == self.out.len() {
            if self.finished {
                return Ok(0);
            }
            self.refill()?;
        }
        let pending = self.out.get(self.out_pos..).unwrap_or_default();
        let n = buf.len().min(pending.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), pending.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.out_pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out one byte per call, to test state across chunk borders.
    struct Trickle(Vec<u8>, usize);
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.1 >= self.0.len() || buf.is_empty() {
                return Ok(0);
            }
            buf[0] = self.0[self.1];
            self.1 += 1;
            Ok(1)
        }
    }

    fn render(input: &[u8], top: Option<u64>) -> Vec<u8> {
        let mut whole = Vec::new();
        MessageStream::new(Box::new(io::Cursor::new(input.to_vec())), top)
            .read_to_end(&mut whole)
            .unwrap();
        let mut trickled = Vec::new();
        MessageStream::new(Box::new(Trickle(input.to_vec(), 0)), top)
            .read_to_end(&mut trickled)
            .unwrap();
        assert_eq!(whole, trickled, "chunking must not matter for {input:?}");
        whole
    }

    #[test]
    fn retr_conversion() {
        let cases: [(&[u8], &[u8]); 9] = [
            (b"", b".\r\n"),
            (b"A: b\n\nbody\n", b"A: b\r\n\r\nbody\r\n.\r\n"),
            (b"A: b\r\n\r\nbody\r\n", b"A: b\r\n\r\nbody\r\n.\r\n"),
            (
                b"A: b\n\n.hidden\n..two\n.\n",
                b"A: b\r\n\r\n..hidden\r\n...two\r\n..\r\n.\r\n",
            ),
            (
                b"A: b\n\nno newline at end",
                b"A: b\r\n\r\nno newline at end\r\n.\r\n",
            ),
            (b"x\r\ry\n", b"x\r\ry\r\n.\r\n"),
            (b"a.b\n", b"a.b\r\n.\r\n"),
            (
                b"A: b\n\nends with cr\r",
                b"A: b\r\n\r\nends with cr\r\n.\r\n",
            ),
            (b".\r\n", b"..\r\n.\r\n"),
        ];
        for (input, want) in cases {
            assert_eq!(
                render(input, None),
                want,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn top_lines() {
        let msg = b"A: 1\nB: 2\n\nl1\nl2\n.l3\n";
        let cases: [(u64, &[u8]); 5] = [
            (0, b"A: 1\r\nB: 2\r\n\r\n.\r\n"),
            (1, b"A: 1\r\nB: 2\r\n\r\nl1\r\n.\r\n"),
            (2, b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n.\r\n"),
            (3, b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n..l3\r\n.\r\n"),
            (100, b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n..l3\r\n.\r\n"),
        ];
        for (n, want) in cases {
            assert_eq!(render(msg, Some(n)), want, "TOP {n}");
        }
        assert_eq!(
            render(b"A: 1\r\nNo: body", Some(0)),
            b"A: 1\r\nNo: body\r\n.\r\n"
        );
    }

    #[test]
    fn big_message_streams_in_chunks() {
        let line = b"0123456789012345678901234567890123456789\n";
        let input: Vec<u8> = line
            .iter()
            .copied()
            .cycle()
            .take(line.len() * 50_000)
            .collect();
        let mut s = MessageStream::new(Box::new(io::Cursor::new(input)), None);
        let mut buf = [0u8; 4096];
        let mut total = 0usize;
        loop {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            total += n;
            assert!(
                s.out.capacity() <= 2 * CHUNK + 16,
                "output buffer stays bounded"
            );
        }
        assert_eq!(total, 42 * 50_000 + 3);
    }
}
