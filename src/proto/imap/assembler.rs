//! The streaming command assembler: fed bytes as they arrive, it yields complete
//! commands, asks the session about each literal, and turns any bad command into
//! one error without ever losing its place in the stream.
//!
//! ```text
//! push(bytes) ─▶ poll() ─▶ Incomplete            (wait for more bytes)
//!                        ├ NeedLiteral{..}       (accept_literal() + "+ Ready", or reject_literal() + tagged NO/BAD)
//!                        ├ Command(cmd)
//!                        └ Error(ParseError)     (reply tagged BAD; the stream is already resynchronised)
//! ```
//!
//! Limits: a command's line bytes (excluding literal data) may not exceed
//! [`Limits::max_line`]; a literal may not exceed [`Limits::max_literal`]; a
//! command may carry at most [`Limits::max_literals`] literals. Over-long lines
//! and over-size literals are discarded as they arrive (non-synchronising
//! literal bytes are skipped), and reported once the command has ended.

use super::command::Command;
use super::parser::{parse_command, peek_tag, ParseError, ParseErrorKind};

/// Size limits for one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest command text, excluding literal data (default 64 KiB).
    pub max_line: usize,
    /// Largest literal accepted at all (default 64 MiB; the session may refuse smaller ones).
    pub max_literal: u64,
    /// Most literals in one command (default 100).
    pub max_literals: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line: 64 * 1024,
            max_literal: 64 * 1024 * 1024,
            max_literals: 100,
        }
    }
}

/// What the assembler has for the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// More bytes are needed.
    Incomplete,
    /// The command announced a literal; call [`CommandAssembler::accept_literal`]
    /// (and send `+ Ready` when `!non_sync`) or [`CommandAssembler::reject_literal`]
    /// (and send a tagged NO/BAD).
    NeedLiteral {
        /// The command's tag, if readable.
        tag: Option<String>,
        /// The command word, upper-cased (`APPEND`), if readable.
        command: Option<String>,
        /// Announced size.
        size: u64,
        /// `{n+}` (LITERAL+): the client sends the data without waiting.
        non_sync: bool,
    },
    /// A complete, parsed command.
    Command(Command),
    /// A command that failed; reply `tag BAD` (or `* BAD` without a tag).
    Error(ParseError),
}

/// A plain line requested by the session (AUTHENTICATE continuation, IDLE's DONE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineEvent {
    /// More bytes are needed.
    Incomplete,
    /// The line without its line end.
    Line(Vec<u8>),
    /// The line exceeded the limit and is being discarded.
    TooLong,
}

#[derive(Debug)]
enum State {
    Line,
    AwaitDecision {
        size: u64,
        non_sync: bool,
    },
    Literal {
        remaining: u64,
    },
    Skip {
        remaining: u64,
        error: Option<ParseError>,
    },
    Discard {
        error: Option<ParseError>,
        tail: Vec<u8>,
    },
}

/// Assembles commands from a byte stream (see the module docs).
#[derive(Debug)]
pub struct CommandAssembler {
    limits: Limits,
    input: Vec<u8>,
    /// How much of the start of `input` is known to hold no line end: a line trickling in byte
    /// by byte is searched once, not once per byte (which made it quadratic).
    scanned: usize,
    command: Vec<u8>,
    line_bytes: usize,
    literals: usize,
    state: State,
}

impl CommandAssembler {
    /// A new assembler with the given limits.
    pub fn new(limits: Limits) -> Self {
        CommandAssembler {
            limits,
            input: Vec::new(),
            scanned: 0,
            command: Vec::new(),
            line_bytes: 0,
            literals: 0,
            state: State::Line,
        }
    }

    /// Adds received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.input.extend_from_slice(bytes);
    }

    /// Bytes received but not yet consumed.
    pub fn buffered(&self) -> usize {
        self.input.len() + self.command.len()
    }

    /// Bytes of the command being assembled so far (its text and the literals already read).
    pub fn command_len(&self) -> usize {
        self.command.len()
    }

    /// Whether the assembler is between commands (nothing partial held).
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Line) && self.command.is_empty() && self.input.is_empty()
    }

    fn tag(&self) -> Option<String> {
        peek_tag(&self.command)
    }

    fn command_word(&self) -> Option<String> {
        let line = &self.command;
        let start = line.iter().position(|&b| b == b' ')? + 1;
        let word: Vec<u8> = line
            .get(start..)?
            .iter()
            .take_while(|b| b.is_ascii_alphabetic())
            .copied()
            .collect();
        (!word.is_empty()).then(|| String::from_utf8_lossy(&word).to_ascii_uppercase())
    }

    fn fail(&mut self, kind: ParseErrorKind) -> ParseError {
        ParseError {
            tag: self.tag(),
            kind,
        }
    }

    /// Where the next line end in `input` is. Until one arrives, later calls search only the
    /// bytes pushed since; every caller that takes bytes out of `input` does so after a line end
    /// was found here (which resets the mark) or clears it with [`Self::clear_input`].
    fn line_end(&mut self) -> Option<usize> {
        let from = self.scanned.min(self.input.len());
        match self
            .input
            .get(from..)
            .unwrap_or_default()
            .iter()
            .position(|&b| b == b'\n')
        {
            Some(i) => {
                self.scanned = 0;
                Some(from + i)
            }
            None => {
                self.scanned = self.input.len();
                None
            }
        }
    }

    fn clear_input(&mut self) {
        self.input.clear();
        self.scanned = 0;
    }

    fn reset_command(&mut self) {
        self.command.clear();
        self.line_bytes = 0;
        self.literals = 0;
    }

    /// Advances as far as the buffered bytes allow.
    pub fn poll(&mut self) -> Event {
        loop {
            match &mut self.state {
                State::Line => {
                    let Some(i) = self.line_end() else {
                        if self.line_bytes + self.input.len() > self.limits.max_line {
                            let keep = self.input.len().min(self.limits.max_line);
                            self.command
                                .extend_from_slice(self.input.get(..keep).unwrap_or_default());
                            let error = self.fail(ParseErrorKind::LineTooLong);
                            let tail = tail_of(&self.input);
                            self.clear_input();
                            self.reset_command();
                            self.state = State::Discard {
                                error: Some(error),
                                tail,
                            };
                            continue;
                        }
                        return Event::Incomplete;
                    };
                    let line: Vec<u8> = self.input.drain(..=i).collect();
                    self.line_bytes += line.len();
                    self.command.extend_from_slice(&line);
                    if self.line_bytes > self.limits.max_line {
                        let error = self.fail(ParseErrorKind::LineTooLong);
                        self.reset_command();
                        match literal_marker(&line) {
                            Some((size, true)) => {
                                self.state = State::Skip {
                                    remaining: size,
                                    error: Some(error),
                                }
                            }
                            _ => return Event::Error(error),
                        }
                        continue;
                    }
                    match literal_marker(&line) {
                        Some((size, non_sync)) => {
                            self.literals += 1;
                            if size > self.limits.max_literal
                                || self.literals > self.limits.max_literals
                            {
                                let append = self.command_word().as_deref() == Some("APPEND");
                                let kind = if size > self.limits.max_literal && append {
                                    ParseErrorKind::MessageTooBig {
                                        size,
                                        limit: self.limits.max_literal,
                                    }
                                } else if size > self.limits.max_literal {
                                    ParseErrorKind::LiteralTooLarge {
                                        size,
                                        limit: self.limits.max_literal,
                                    }
                                } else {
                                    ParseErrorKind::TooMany
                                };
                                let error = self.fail(kind);
                                self.reset_command();
                                if non_sync {
                                    self.state = State::Skip {
                                        remaining: size,
                                        error: None,
                                    };
                                }
                                return Event::Error(error);
                            }
                            self.state = State::AwaitDecision { size, non_sync };
                        }
                        None => {
                            let command = std::mem::take(&mut self.command);
                            self.reset_command();
                            return match parse_command(&command) {
                                Ok(c) => Event::Command(c),
                                Err(e) => Event::Error(e),
                            };
                        }
                    }
                }
                State::AwaitDecision { size, non_sync } => {
                    let (size, non_sync) = (*size, *non_sync);
                    return Event::NeedLiteral {
                        tag: self.tag(),
                        command: self.command_word(),
                        size,
                        non_sync,
                    };
                }
                State::Literal { remaining } => {
                    let take = (*remaining).min(self.input.len() as u64) as usize;
                    *remaining -= take as u64;
                    let done = *remaining == 0;
                    self.command.extend(self.input.drain(..take));
                    self.scanned = 0;
                    if !done {
                        return Event::Incomplete;
                    }
                    self.state = State::Line;
                }
                State::Skip { remaining, error } => {
                    let take = (*remaining).min(self.input.len() as u64) as usize;
                    *remaining -= take as u64;
                    self.input.drain(..take);
                    self.scanned = 0;
                    if *remaining > 0 {
                        return Event::Incomplete;
                    }
                    let error = error.take();
                    self.state = State::Discard {
                        error,
                        tail: Vec::new(),
                    };
                }
                State::Discard { error, tail } => {
                    let Some(i) = self.input.iter().position(|&b| b == b'\n') else {
                        tail.extend_from_slice(&self.input);
                        *tail = tail_of(tail);
                        self.input.clear();
                        self.scanned = 0;
                        return Event::Incomplete;
                    };
                    tail.extend(self.input.drain(..=i));
                    self.scanned = 0;
                    let marker = literal_marker(tail);
                    let error = error.take();
                    match marker {
                        Some((size, true)) => {
                            self.state = State::Skip {
                                remaining: size,
                                error,
                            }
                        }
                        _ => {
                            self.state = State::Line;
                            if let Some(error) = error {
                                return Event::Error(error);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Accepts the announced literal (after [`Event::NeedLiteral`]).
    pub fn accept_literal(&mut self) {
        if let State::AwaitDecision { size, .. } = self.state {
            self.state = State::Literal { remaining: size };
        }
    }

    /// Refuses the announced literal: the command is dropped (non-synchronising
    /// literal bytes and the rest of the command are skipped as they arrive).
    /// Returns the command's tag for the session's reply.
    pub fn reject_literal(&mut self) -> Option<String> {
        let tag = self.tag();
        if let State::AwaitDecision { size, non_sync } = self.state {
            self.reset_command();
            self.state = if non_sync {
                State::Skip {
                    remaining: size,
                    error: None,
                }
            } else {
                State::Line
            };
        }
        tag
    }

    /// Takes one plain line (AUTHENTICATE responses, IDLE's `DONE`), only between commands.
    pub fn next_line(&mut self) -> LineEvent {
        if !matches!(self.state, State::Line) || !self.command.is_empty() {
            // Finish discarding whatever is in progress first.
            if let Event::Incomplete = self.poll() {
                return LineEvent::Incomplete;
            }
        }
        match self.line_end() {
            Some(i) => {
                let mut line: Vec<u8> = self.input.drain(..=i).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if line.len() > self.limits.max_line {
                    return LineEvent::TooLong;
                }
                LineEvent::Line(line)
            }
            None if self.input.len() > self.limits.max_line => {
                let tail = tail_of(&self.input);
                self.clear_input();
                self.state = State::Discard { error: None, tail };
                LineEvent::TooLong
            }
            None => LineEvent::Incomplete,
        }
    }
}

fn tail_of(bytes: &[u8]) -> Vec<u8> {
    let start = bytes.len().saturating_sub(32);
    bytes.get(start..).unwrap_or_default().to_vec()
}

/// If the line ends in `{n}` or `{n+}` (before CRLF/LF): the size and whether it is
/// non-synchronising. Sizes too big for u64 read as u64::MAX.
fn literal_marker(line: &[u8]) -> Option<(u64, bool)> {
    let line = line.strip_suffix(b"\n")?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let inner = inner.get(open + 1..)?;
    let (digits, non_sync) = match inner.strip_suffix(b"+") {
        Some(d) => (d, true),
        None => (inner, false),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let size = digits
        .iter()
        .try_fold(0u64, |acc, &d| {
            acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
        .unwrap_or(u64::MAX);
    Some((size, non_sync))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::imap::command::CommandKind;

    fn small() -> CommandAssembler {
        CommandAssembler::new(Limits {
            max_line: 100,
            max_literal: 1000,
            max_literals: 3,
        })
    }

    fn command(event: Event) -> Command {
        match event {
            Event::Command(c) => c,
            other => panic!("expected a command, got {other:?}"),
        }
    }

    fn error(event: Event) -> ParseError {
        match event {
            Event::Error(e) => e,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn whole_and_split_lines() {
        let mut a = small();
        assert_eq!(a.poll(), Event::Incomplete);
        a.push(b"a1 NO");
        assert_eq!(a.poll(), Event::Incomplete);
        a.push(b"OP\r\na2 CAPABILITY\r\na3 LOG");
        assert_eq!(command(a.poll()).tag, "a1");
        assert_eq!(command(a.poll()).kind, CommandKind::Capability);
        assert_eq!(a.poll(), Event::Incomplete);
        a.push(b"OUT\n");
        assert_eq!(command(a.poll()).kind, CommandKind::Logout);
        assert!(a.is_idle());
    }

    #[test]
    fn byte_at_a_time_feeding() {
        let mut a = small();
        let input = b"x LOGIN {3}\r\nbob {6+}\r\nsecret\r\ny NOOP\r\n";
        let mut seen = Vec::new();
        for &b in input.iter() {
            a.push(&[b]);
            loop {
                match a.poll() {
                    Event::Incomplete => break,
                    Event::NeedLiteral { non_sync, .. } => {
                        seen.push(non_sync);
                        a.accept_literal();
                    }
                    Event::Command(c) => seen.push(matches!(
                        c.kind,
                        CommandKind::Login { .. } | CommandKind::Noop
                    )),
                    Event::Error(e) => panic!("{e:?}"),
                }
            }
        }
        assert_eq!(seen, vec![false, true, true, true]);
    }

    #[test]
    fn synchronising_literal_flow() {
        let mut a = small();
        a.push(b"A003 APPEND saved-messages (\\Seen) {5}\r\n");
        assert_eq!(
            a.poll(),
            Event::NeedLiteral {
                tag: Some("A003".into()),
                command: Some("APPEND".into()),
                size: 5,
                non_sync: false
            }
        );
        // Asking again without a decision repeats the question.
        assert!(matches!(a.poll(), Event::NeedLiteral { .. }));
        a.accept_literal();
        assert_eq!(a.poll(), Event::Incomplete);
        a.push(b"Hel");
        assert_eq!(a.poll(), Event::Incomplete);
        a.push(b"lo\r\n");
        match command(a.poll()).kind {
            CommandKind::Append { message, flags, .. } => {
                assert_eq!(message, b"Hello");
                assert_eq!(flags.len(), 1);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejected_sync_literal_keeps_stream_in_sync() {
        let mut a = small();
        a.push(b"t1 LOGIN {500}\r\n");
        assert!(matches!(a.poll(), Event::NeedLiteral { size: 500, .. }));
        assert_eq!(a.reject_literal(), Some("t1".into()));
        // The client saw our NO and never sent the literal.
        a.push(b"t2 NOOP\r\n");
        assert_eq!(command(a.poll()).tag, "t2");
    }

    #[test]
    fn rejected_non_sync_literal_is_skipped() {
        let mut a = small();
        a.push(b"t1 APPEND INBOX {10+}\r\n0123");
        assert!(matches!(
            a.poll(),
            Event::NeedLiteral {
                size: 10,
                non_sync: true,
                ..
            }
        ));
        a.reject_literal();
        assert_eq!(a.poll(), Event::Incomplete);
        // Rest of the literal, then the rest of the command line with another
        // non-sync literal, then the next command.
        a.push(b"456789 {3+}\r\nabc tail\r\nt2 NOOP\r\n");
        assert_eq!(command(a.poll()).tag, "t2");
    }

    #[test]
    fn oversize_literals_are_refused_with_the_tag() {
        let mut a = small();
        a.push(b"big APPEND INBOX {1073741824}\r\nt2 NOOP\r\n");
        let e = error(a.poll());
        assert_eq!(e.tag.as_deref(), Some("big"));
        // An APPEND's message is too big (TOOBIG); any other literal too large (LIMIT).
        assert!(matches!(
            e.kind,
            ParseErrorKind::MessageTooBig {
                size: 1073741824,
                ..
            }
        ));
        assert_eq!(command(a.poll()).tag, "t2");

        // Non-sync: the announced bytes are skipped even though they arrive anyway.
        a.push(b"big2 APPEND INBOX {2000+}\r\n");
        assert!(matches!(
            error(a.poll()).kind,
            ParseErrorKind::MessageTooBig { .. }
        ));
        a.push(&[b'x'; 2000]);
        a.push(b"\r\nt3 NOOP\r\n");
        assert_eq!(command(a.poll()).tag, "t3");

        // Absurd sizes do not overflow.
        a.push(b"huge LOGIN {99999999999999999999999}\r\nt4 NOOP\r\n");
        assert!(matches!(
            error(a.poll()).kind,
            ParseErrorKind::LiteralTooLarge { .. }
        ));
        assert_eq!(command(a.poll()).tag, "t4");
    }

    #[test]
    fn too_many_literals() {
        let mut a = small();
        a.push(b"m ID (\"a\" {1}\r\n");
        for _ in 0..3 {
            match a.poll() {
                Event::NeedLiteral { .. } => {
                    a.accept_literal();
                    a.push(b"x {1}\r\n");
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(error(a.poll()).kind, ParseErrorKind::TooMany);
    }

    #[test]
    fn long_lines_are_discarded_then_reported() {
        let mut a = small();
        a.push(b"long1 SEARCH ");
        a.push(&[b'X'; 150]);
        // The error waits for the end of the line, so the reply is not premature.
        assert_eq!(a.poll(), Event::Incomplete);
        a.push(&[b'Y'; 500]);
        assert_eq!(a.poll(), Event::Incomplete);
        assert!(a.buffered() < 200, "memory stays bounded: {}", a.buffered());
        a.push(b"\r\nok NOOP\r\n");
        let e = error(a.poll());
        assert_eq!(
            (e.tag.as_deref(), e.kind),
            (Some("long1"), ParseErrorKind::LineTooLong)
        );
        assert_eq!(command(a.poll()).tag, "ok");

        // A long line that arrives complete in one push.
        let mut line = b"long2 LOGIN ".to_vec();
        line.extend_from_slice(&[b'a'; 200]);
        line.extend_from_slice(b" b\r\nok2 NOOP\r\n");
        a.push(&line);
        assert_eq!(error(a.poll()).kind, ParseErrorKind::LineTooLong);
        assert_eq!(command(a.poll()).tag, "ok2");
    }

    #[test]
    fn parse_errors_do_not_desynchronise() {
        let mut a = small();
        a.push(b"bad1 FETCH (\r\n)))\r\nbad2 LOGIN {3}\r\n");
        assert_eq!(error(a.poll()).tag.as_deref(), Some("bad1"));
        assert_eq!(error(a.poll()).tag, None);
        assert!(matches!(a.poll(), Event::NeedLiteral { .. }));
        a.accept_literal();
        a.push(b"abc\r\nok NOOP\r\n");
        // LOGIN with one argument: an error, but the literal was consumed in full.
        assert_eq!(error(a.poll()).tag.as_deref(), Some("bad2"));
        assert_eq!(command(a.poll()).tag, "ok");
    }

    #[test]
    fn plain_lines_for_authenticate_and_idle() {
        let mut a = small();
        a.push(b"dGVzdA==\r\nDONE\nrest");
        assert_eq!(a.next_line(), LineEvent::Line(b"dGVzdA==".to_vec()));
        assert_eq!(a.next_line(), LineEvent::Line(b"DONE".to_vec()));
        assert_eq!(a.next_line(), LineEvent::Incomplete);
        a.push(&[b'z'; 200]);
        assert_eq!(a.next_line(), LineEvent::TooLong);
        a.push(b"\r\nnext NOOP\r\n");
        assert_eq!(command(a.poll()).tag, "next");
    }

    #[test]
    fn random_streams_never_panic_and_stay_bounded() {
        let mut state = 0xdead_beef_cafe_f00du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let pieces: &[&[u8]] = &[
            b"a1 ",
            b"NOOP",
            b"{5}",
            b"{3+}",
            b"{999999}",
            b"\r\n",
            b"\n",
            b"\"",
            b"(",
            b")",
            b"xyz",
            b"LOGIN ",
            b"FETCH 1 BODY[",
            b" ",
        ];
        let mut a = small();
        for _ in 0..20_000 {
            a.push(pieces[(next() % pieces.len() as u64) as usize]);
            for _ in 0..4 {
                match a.poll() {
                    Event::NeedLiteral { .. } => {
                        if next() % 2 == 0 {
                            a.accept_literal()
                        } else {
                            a.reject_literal();
                        }
                    }
                    Event::Incomplete => break,
                    _ => {}
                }
            }
            assert!(a.buffered() < 5_000, "{}", a.buffered());
        }
    }

    /// Found by the `imap_assembler` fuzz target: a command line of 60,000 bytes pushed one byte
    /// at a time took seconds, as each push searched the whole line again for its end (a client
    /// trickling bytes got quadratic CPU from the server). Each byte is now searched once.
    #[test]
    fn a_line_trickling_in_is_searched_once() {
        let mut a = CommandAssembler::new(Limits::default());
        let started = std::time::Instant::now();
        let line = [b"a SEARCH TEXT ".as_slice(), &[b'x'; 60_000], b"\r\n"].concat();
        let mut events = Vec::new();
        for b in &line {
            a.push(std::slice::from_ref(b));
            match a.poll() {
                Event::Incomplete => {}
                other => events.push(other),
            }
        }
        assert!(
            matches!(events.as_slice(), [Event::Command(c)] if c.tag == "a"),
            "{events:?}"
        );
        // Searching once per byte takes milliseconds; once per push, tens of seconds unoptimised.
        let took = started.elapsed();
        assert!(took < std::time::Duration::from_secs(3), "took {took:?}");
    }
}
