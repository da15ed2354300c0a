//! The DATA receiver: dot-unstuffing, the end marker, and the checks that stop SMTP smuggling.
//!
//! Only `CRLF . CRLF` ends the data. A bare LF or bare CR anywhere (the 2023 `\n.\n` / `\r.\r`
//! smuggling family) marks the message as refused, and reading goes on to the real end marker so
//! the session stays in sync. Oversized messages are counted but not kept.

/// Why a message received with DATA is refused (the reply is given after the end marker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataProblem {
    TooBig,
    BareLineEnd,
    LineTooLong,
    Nul,
}

/// Receives one message's DATA.
#[derive(Debug)]
pub struct DataReceiver {
    message: Vec<u8>,
    max_size: u64,
    line_limit: usize,
    /// Bytes received (after unstuffing), kept or not.
    size: u64,
    /// In the middle of an over-long line that was flushed in pieces.
    mid_line: bool,
    /// The previous line ended with CRLF (only then can `.CRLF` end the data).
    after_crlf: bool,
    problem: Option<DataProblem>,
}

/// What feeding bytes gave.
#[derive(Debug, PartialEq, Eq)]
pub enum DataStatus {
    /// Need more input; this many bytes of the input were used.
    More(usize),
    /// The end marker was seen after this many bytes of the input.
    Done(usize),
}

impl DataReceiver {
    pub fn new(max_size: u64, line_limit: usize) -> DataReceiver {
        DataReceiver {
            message: Vec::with_capacity(8192),
            max_size,
            line_limit,
            size: 0,
            mid_line: false,
            after_crlf: true,
            problem: None,
        }
    }

    fn flag(&mut self, p: DataProblem) {
        // The first problem found is the one reported, except that size wins (it is what a
        // client can fix by sending less).
        if self.problem.is_none() || p == DataProblem::TooBig {
            self.problem = Some(p);
        }
    }

    fn keep(&mut self, bytes: &[u8]) {
        self.size += bytes.len() as u64;
        if self.size > self.max_size {
            self.flag(DataProblem::TooBig);
            self.message = Vec::new();
        } else if self.problem != Some(DataProblem::TooBig) {
            self.message.extend_from_slice(bytes);
        }
    }

    /// Feed input. Returns how much of it was used, and whether the end marker was reached.
    pub fn feed(&mut self, input: &[u8]) -> DataStatus {
        let mut pos = 0;
        while pos < input.len() {
            let rest = &input[pos..];
            let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                // No complete line: flush a too-long fragment, keep the rest for later.
                if rest.len() > self.line_limit {
                    let mut cut = rest.len();
                    if rest[cut - 1] == b'\r' {
                        cut -= 1;
                    }
                    self.line(&rest[..cut], false);
                    self.flag(DataProblem::LineTooLong);
                    self.mid_line = true;
                    pos += cut;
                }
                return DataStatus::More(pos);
            };
            let line = &rest[..=nl];
            pos += nl + 1;
            if !self.mid_line && self.after_crlf && line == b".\r\n" {
                return DataStatus::Done(pos);
            }
            self.line(line, true);
        }
        DataStatus::More(pos)
    }

    /// One line (`complete`: ends with LF) or a fragment of an over-long one.
    fn line(&mut self, line: &[u8], complete: bool) {
        let (content, crlf) = match line.strip_suffix(b"\r\n") {
            Some(c) => (c, true),
            None => match line.strip_suffix(b"\n") {
                Some(c) => (c, false),
                None => (line, false),
            },
        };
        if complete && !crlf {
            self.flag(DataProblem::BareLineEnd);
        }
        if content.contains(&b'\r') {
            self.flag(DataProblem::BareLineEnd);
        }
        if content.contains(&0) {
            self.flag(DataProblem::Nul);
        }
        if content.len() + 2 > self.line_limit && complete && !self.mid_line {
            self.flag(DataProblem::LineTooLong);
        }
        let content = match (self.mid_line, content.first()) {
            (false, Some(b'.')) => &content[1..],
            _ => content,
        };
        self.keep(content);
        if complete {
            self.keep(b"\r\n");
            self.mid_line = false;
            self.after_crlf = crlf;
        }
    }

    /// Bytes received so far (after unstuffing).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The message, or why it is refused.
    pub fn finish(self) -> Result<Vec<u8>, DataProblem> {
        match self.problem {
            Some(p) => Err(p),
            None => Ok(self.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&[u8]], max: u64) -> (Result<Vec<u8>, DataProblem>, Vec<u8>) {
        let mut r = DataReceiver::new(max, 1000);
        let mut pending: Vec<u8> = Vec::new();
        for c in chunks {
            pending.extend_from_slice(c);
            match r.feed(&pending) {
                DataStatus::More(n) => {
                    pending.drain(..n);
                }
                DataStatus::Done(n) => {
                    pending.drain(..n);
                    return (r.finish(), pending);
                }
            }
        }
        panic!("no end marker")
    }

    #[test]
    fn unstuffs_and_ends_only_on_crlf_dot_crlf() {
        let (msg, rest) = run(&[b"a\r\n..b\r\n.\r", b"\nQUIT\r\n"], 1000);
        assert_eq!(msg.expect("ok"), b"a\r\n.b\r\n");
        assert_eq!(rest, b"QUIT\r\n");
        let (msg, _) = run(&[b"\r\n", b".", b"\r", b"\n"], 1000);
        assert_eq!(msg.expect("ok"), b"\r\n");
    }

    #[test]
    fn smuggling_attempts_are_refused_and_stay_in_sync() {
        for input in [
            &b"a\n.\nMAIL FROM:<x@evil.test>\r\n.\r\n"[..],
            b"a\r.\rMAIL FROM:<x@evil.test>\r\n.\r\n",
            b"a\r\n.\nRCPT TO:<x@y.test>\r\n.\r\n",
            b"a\n.\r\nb\r\n.\r\n",
        ] {
            let (msg, rest) = run(&[input], 1000);
            assert_eq!(msg, Err(DataProblem::BareLineEnd), "{input:?}");
            assert!(rest.is_empty(), "{input:?}");
        }
    }

    #[test]
    fn limits() {
        let big = vec![b'x'; 500];
        let mut chunks: Vec<&[u8]> = Vec::new();
        for _ in 0..10 {
            chunks.push(&big);
            chunks.push(b"\r\n");
        }
        chunks.push(b".\r\n");
        assert_eq!(run(&chunks, 2000).0, Err(DataProblem::TooBig));
        assert!(run(&chunks, 20000).0.is_ok());
        let long = vec![b'y'; 5000];
        let (msg, _) = run(&[&long, &long, b"\r\n.\r\n"], 100_000);
        assert_eq!(msg, Err(DataProblem::LineTooLong));
        // A '.' after a flushed fragment is not a line start.
        let (msg, _) = run(&[&long, b".\r\n", b"ok\r\n.\r\n"], 100_000);
        assert_eq!(msg, Err(DataProblem::LineTooLong));
        assert_eq!(run(&[b"a\0b\r\n.\r\n"], 100).0, Err(DataProblem::Nul));
    }
}
