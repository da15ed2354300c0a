//! A POP3 session with its line reader, the actions it has not carried out yet and the message
//! being sent: what the connection driver steps. Output is produced in batches of at most
//! [`OUT_BATCH`] octets; a quick step stops before anything slow (a login, opening the
//! maildrop, QUIT, a message larger than [`INLINE_MESSAGE`]) and says so, so the driver can run
//! the next step off its async workers.

use std::collections::VecDeque;
use std::io::Read;
use std::time::Duration;

use super::line::{Line, LineReader};
use super::maildrop::Backend;
use super::session::{Action, Event, Session};
use super::stream::MessageStream;

/// Output produced per step before it is written to the client.
pub const OUT_BATCH: usize = 256 * 1024;

/// Messages up to this size (as sent) are read in a quick step; larger ones in a slow one.
pub const INLINE_MESSAGE: u64 = 128 * 1024;

/// What the driver does after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Write the output and read from the client.
    Read,
    /// Write the output and step again (more of a long message or of pipelined input).
    More,
    /// Write the output and run the next step off the async workers: it does slow work.
    Slow,
    /// Write the output, wait, step again (the delay after a failed login).
    Pause(Duration),
    /// Write the output, then the TLS handshake.
    StartTls,
    /// Write the output and close.
    Close,
}

/// What happened, for the log: the session's events, and a message that could not be read.
#[derive(Debug)]
pub enum Note {
    Session(Event),
    /// The maildrop could not read a message while it was being sent (the reply is cut).
    ReadFailed(std::io::Error),
}

/// A POP3 session as the driver steps it.
pub struct Conversation<B: Backend> {
    session: Session<B>,
    reader: LineReader,
    pending: VecDeque<Action>,
    stream: Option<MessageStream>,
    /// A line taken from the reader whose work is slow.
    held: Option<Vec<u8>>,
    /// The next step may do slow work.
    slow: bool,
    notes: Vec<Note>,
}

impl<B: Backend> Conversation<B> {
    /// A conversation around `session`, reading lines of at most `max_line` octets.
    pub fn new(session: Session<B>, max_line: usize) -> Self {
        Conversation {
            session,
            reader: LineReader::new(max_line),
            pending: VecDeque::new(),
            stream: None,
            held: None,
            slow: false,
            notes: Vec::new(),
        }
    }

    /// Bytes from the client.
    pub fn receive(&mut self, bytes: &[u8]) {
        self.reader.feed(bytes);
    }

    /// Whether the next step does slow work (it must run off the async workers).
    pub fn is_slow(&self) -> bool {
        self.slow
    }

    /// Whether nothing of a next command has arrived and nothing is left to do.
    pub fn at_rest(&self) -> bool {
        self.reader.is_empty()
            && self.pending.is_empty()
            && self.stream.is_none()
            && self.held.is_none()
    }

    /// TLS is up: anything pipelined behind STLS in plaintext is discarded (RFC 2595 §4).
    pub fn tls_started(&mut self) {
        self.reader.clear();
        self.session.tls_started();
    }

    /// The connection ended without QUIT: the session's end is noted (no deletions).
    pub fn dropped(&mut self) {
        for a in self.session.disconnected() {
            if let Action::Event(e) = a {
                self.notes.push(Note::Session(e));
            }
        }
    }

    /// What happened since the last call.
    pub fn take_notes(&mut self) -> Vec<Note> {
        std::mem::take(&mut self.notes)
    }

    /// Carries out pending actions and buffered lines until the output is full, input runs
    /// out, or the driver must act.
    pub fn step(&mut self, out: &mut Vec<u8>) -> Turn {
        let quick_only = !std::mem::take(&mut self.slow);
        loop {
            if out.len() >= OUT_BATCH {
                return Turn::More;
            }
            if let Some(stream) = &mut self.stream {
                if let Err(why) = drain(stream, out, OUT_BATCH) {
                    // The +OK is gone already: the reply cannot be ended properly.
                    self.notes.push(Note::ReadFailed(why));
                    self.stream = None;
                    self.pending.clear();
                    self.pending.extend(self.session.disconnected());
                    self.pending.push_back(Action::Close);
                } else if out.len() < OUT_BATCH {
                    self.stream = None; // finished
                }
                continue;
            }
            if let Some(action) = self.pending.pop_front() {
                match action {
                    Action::Reply(bytes) => out.extend_from_slice(&bytes),
                    Action::Stream(s) if quick_only && s.size_hint() > INLINE_MESSAGE => {
                        self.pending.push_front(Action::Stream(s));
                        return self.slow_next();
                    }
                    Action::Stream(s) => self.stream = Some(s),
                    Action::Event(e) => self.notes.push(Note::Session(e)),
                    Action::Pause(d) => return Turn::Pause(d),
                    Action::StartTls => return Turn::StartTls,
                    Action::Close => return Turn::Close,
                }
                continue;
            }
            let line = match self.held.take() {
                Some(line) => Line::Complete(line),
                None => match self.reader.next_line() {
                    Some(line) => line,
                    None => return Turn::Read,
                },
            };
            let actions = match line {
                Line::Complete(line) if quick_only && self.session.is_slow(&line) => {
                    self.held = Some(line);
                    return self.slow_next();
                }
                Line::Complete(line) => self.session.line(&line),
                Line::TooLong => self.session.line_too_long(),
            };
            self.pending.extend(actions);
        }
    }

    fn slow_next(&mut self) -> Turn {
        self.slow = true;
        Turn::Slow
    }
}

/// Appends converted message bytes to `out` until it holds `limit` octets or the message ends.
fn drain(stream: &mut MessageStream, out: &mut Vec<u8>, limit: usize) -> std::io::Result<()> {
    let mut chunk = [0u8; 16 * 1024];
    while out.len() < limit {
        let want = chunk.len().min(limit - out.len());
        let n = match stream.read(chunk.get_mut(..want).unwrap_or_default()) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
    Ok(())
}
