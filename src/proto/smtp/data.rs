//! The DATA receiver: dot-unstuffing, the end marker, and the checks that stop SMTP smuggling;
//! and the same checks for BDAT chunks ([`ChunkCheck`]).
//!
//! Only `CRLF . CRLF` ends the data. A bare LF or bare CR anywhere (the 2023 `\n.\n` / `\r.\r`
//! smuggling family) marks the message as refused, and reading goes on to the real end marker so
//! the session stays in sync. Oversized messages are counted but not kept. BDAT data (RFC 3030)
//! has no end marker and no dot-stuffing, but is held to the same rules: lines end with CRLF,
//! no NUL, no line over the limit — so a message that could not come in by DATA cannot come in by
//! BDAT either, and nothing stored can carry a `\n.\n` to the next hop.

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
        while let Some(rest) = input.get(pos..).filter(|r| !r.is_empty()) {
            let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                // No complete line: flush a too-long fragment, keep the rest for later.
                if rest.len() > self.line_limit {
                    // A CR at the end may be the start of the CRLF still to come.
                    let fragment = rest.strip_suffix(b"\r").unwrap_or(rest);
                    self.line(fragment, false);
                    self.flag(DataProblem::LineTooLong);
                    self.mid_line = true;
                    pos += fragment.len();
                }
                return DataStatus::More(pos);
            };
            let line = rest.get(..=nl).unwrap_or(rest);
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
        let content = match (self.mid_line, content.split_first()) {
            (false, Some((b'.', rest))) => rest,
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

/// The DATA rules applied to BDAT chunks as they arrive, across chunk boundaries (a CR at the end
/// of one chunk may be completed by an LF at the start of the next).
#[derive(Debug)]
pub struct ChunkCheck {
    line_limit: usize,
    /// Bytes of the current line so far, its line end included once it comes.
    line_len: usize,
    after_cr: bool,
    problem: Option<DataProblem>,
}

impl ChunkCheck {
    pub fn new(line_limit: usize) -> ChunkCheck {
        ChunkCheck {
            line_limit,
            line_len: 0,
            after_cr: false,
            problem: None,
        }
    }

    fn flag(&mut self, p: DataProblem) {
        self.problem.get_or_insert(p);
    }

    /// Check the next bytes of the message.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.problem.is_some() {
            return;
        }
        for &b in bytes {
            if self.after_cr && b != b'\n' {
                self.flag(DataProblem::BareLineEnd);
            }
            match b {
                b'\n' if !self.after_cr => self.flag(DataProblem::BareLineEnd),
                0 => self.flag(DataProblem::Nul),
                _ => {}
            }
            self.line_len += 1;
            if self.line_len > self.line_limit {
                self.flag(DataProblem::LineTooLong);
            }
            if b == b'\n' {
                self.line_len = 0;
            }
            self.after_cr = b == b'\r';
            if self.problem.is_some() {
                return;
            }
        }
    }

    /// The first problem found so far.
    pub fn problem(&self) -> Option<DataProblem> {
        self.problem
    }

    /// At the end of the message (the LAST chunk): the first problem, a final lone CR included.
    pub fn finish(&mut self) -> Option<DataProblem> {
        if self.after_cr {
            self.flag(DataProblem::BareLineEnd);
        }
        self.problem
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &[&[u8]]) -> Option<DataProblem> {
        let mut c = ChunkCheck::new(1000);
        for p in parts {
            c.feed(p);
        }
        c.finish()
    }

    #[test]
    fn chunk_check_holds_bdat_to_the_data_rules() {
        assert_eq!(chunks(&[b"a\r\nb\r\n", b"c"]), None);
        // CRLF split across two chunks is one line end.
        assert_eq!(chunks(&[b"a\r", b"\nb\r\n"]), None);
        for bad in [
            &[&b"a\r\n\n.\nMAIL FROM:<ceo@x.test>\r\n"[..]][..],
            &[b"a\r.\rRCPT TO:<x@y.test>\r\n"],
            &[b"a\r\n", b"\n.\r\n"],
            &[b"a\r", b"b\r\n"],
            &[b"last line ends in CR\r"],
        ] {
            assert_eq!(chunks(bad), Some(DataProblem::BareLineEnd), "{bad:?}");
        }
        assert_eq!(chunks(&[b"a\0b\r\n"]), Some(DataProblem::Nul));
        let long = vec![b'x'; 999];
        assert_eq!(chunks(&[&long, b"\r\n"]), Some(DataProblem::LineTooLong));
        assert_eq!(chunks(&[&long[..998], b"\r", b"\n"]), None);
    }

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
